/* Red Kapok client-side callbacks (namespace "rk"): the wall's watchdog and rotation, the grid map
 * (geometry fetched once and cached, figure assembled here from per-cell classes, click hit-testing),
 * and warning lifecycle actions. Component ids repeat dashboard/ids.py.
 */
(function () {
  "use strict";
  const HIDDEN = -2;
  const NO_VALUE = -1;
  const geometryCache = {};   // url -> decoded geometry (one entry per geometry version)
  const wallState = { lastOk: null };

  function cityTime(ms, lang) {
    return new Date(ms).toLocaleString(lang === "en" ? "en-GB" : "zh-CN", {
      timeZone: "Asia/Shanghai", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hour12: false,
    });
  }

  function decodeGeometry(body) {
    const s = body.scale;
    const n = body.ids.length;
    const cells = new Array(n);
    for (let i = 0; i < n; i++) {
      const rings = [];
      for (const enc of body.rings[i]) {
        let x = body.cx[i], y = body.cy[i];
        const xs = new Float64Array(enc.length / 2), ys = new Float64Array(enc.length / 2);
        for (let k = 0; k < enc.length; k += 2) {
          x += enc[k]; y += enc[k + 1];
          xs[k / 2] = x / s; ys[k / 2] = y / s;
        }
        rings.push([xs, ys]);
      }
      cells[i] = { id: body.ids[i], x: body.cx[i] / s, y: body.cy[i] / s, rings: rings };
    }
    const outlineX = [], outlineY = [];
    for (const enc of body.outlines) {
      let x = 0, y = 0;
      const x0 = enc[0], y0 = enc[1];
      for (let k = 0; k < enc.length; k += 2) {
        x += enc[k]; y += enc[k + 1];
        outlineX.push(x / s); outlineY.push(y / s);
      }
      outlineX.push(x0 / s, null); outlineY.push(y0 / s, null);  // close the ring, then a gap
    }
    const index = {};
    cells.forEach(function (c, i) { index[c.id] = i; });
    return { version: body.version, cells: cells, index: index, bounds: body.bounds,
             outlineX: outlineX, outlineY: outlineY };
  }

  function inRing(px, py, xs, ys) {
    let inside = false;
    for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
      if ((ys[i] > py) !== (ys[j] > py) &&
          px < (xs[j] - xs[i]) * (py - ys[i]) / (ys[j] - ys[i]) + xs[i]) {
        inside = !inside;
      }
    }
    return inside;
  }

  /* The visible cell under a lon/lat point: polygon test among the nearest centres. */
  function cellAt(geo, classes, lon, lat) {
    const k = Math.cos(lat * Math.PI / 180);
    const near = [];
    for (let i = 0; i < geo.cells.length; i++) {
      if (classes && classes[i] === HIDDEN) continue;
      const c = geo.cells[i];
      const dx = (c.x - lon) * k, dy = c.y - lat;
      const d = dx * dx + dy * dy;
      if (near.length < 8 || d < near[near.length - 1][0]) {
        near.push([d, i]);
        near.sort(function (a, b) { return a[0] - b[0]; });
        if (near.length > 8) near.pop();
      }
    }
    for (const pair of near) {
      for (const ring of geo.cells[pair[1]].rings) {
        if (inRing(lon, lat, ring[0], ring[1])) return geo.cells[pair[1]].id;
      }
    }
    return null;
  }

  function pushRings(cell, xs, ys) {
    for (const ring of cell.rings) {
      for (let k = 0; k < ring[0].length; k++) { xs.push(ring[0][k]); ys.push(ring[1][k]); }
      xs.push(null); ys.push(null);
    }
  }

  function attachClick(gd, url) {
    if (gd._rkClick) return;
    gd._rkClick = true;
    // Plotly covers the page while a button is down (for dragging), so the click event never reaches the
    // graph: a press and release on the same spot of the plot area is the click.
    let down = null;
    gd.addEventListener("mousedown", function (e) {
      down = e.button === 0 ? [e.clientX, e.clientY] : null;
    }, true);
    const onUp = function (e) {
      const start = down;
      down = null;
      if (!document.body.contains(gd)) {  // the page was left: let the old graph go
        window.removeEventListener("mouseup", onUp, true);
        return;
      }
      if (!start || Math.abs(e.clientX - start[0]) > 4 || Math.abs(e.clientY - start[1]) > 4) return;
      const drag = gd.querySelector(".nsewdrag");
      const layout = gd._fullLayout;
      const geo = geometryCache[gd._rkGeometryUrl || url];
      if (!drag || !layout || !geo) return;
      const box = drag.getBoundingClientRect();
      if (e.clientX < box.left || e.clientX > box.right || e.clientY < box.top || e.clientY > box.bottom) return;
      const lon = layout.xaxis.p2l(e.clientX - box.left);
      const lat = layout.yaxis.p2l(e.clientY - box.top);
      const id = cellAt(geo, gd._rkClasses, lon, lat);
      if (id !== null) window.dash_clientside.set_props("grid-selected", { data: id });
    };
    window.addEventListener("mouseup", onUp, true);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    rk: {
      wallRotate: function (n, mode) {
        return mode === "warnings" ? "index" : "warnings";
      },

      wallWatchdog: function (n, lastOk, interval, template, lang) {
        const now = Date.now();
        const ctx = window.dash_clientside.callback_context;
        const byRefresh = ctx.triggered.some(function (t) { return t.prop_id === "wall-last-ok.data"; });
        if (byRefresh || wallState.lastOk === null) wallState.lastOk = now;
        const clock = cityTime(now, lang);
        // three missed refreshes (and a margin for a slow one) before the wall says the link is down
        if (now - wallState.lastOk > 3 * (interval || 5000) + 5000) {
          const since = cityTime(wallState.lastOk, lang);
          return [template.replace("{time}", since), "link-lost", clock];
        }
        return ["", "link-ok", clock];
      },

      gridGeometry: function (spec) {
        if (!spec || !spec.url) return window.dash_clientside.no_update;
        if (geometryCache[spec.url]) return spec.version;
        return fetch(spec.url, { credentials: "same-origin" })
          .then(function (r) {
            if (!r.ok) throw new Error("map geometry: HTTP " + r.status);
            return r.json();
          })
          .then(function (body) {
            for (const key of Object.keys(geometryCache)) delete geometryCache[key];  // one version kept
            geometryCache[spec.url] = decodeGeometry(body);
            return spec.version;
          });
      },

      gridDraw: function (payload, ready, selected, spec) {
        const geo = spec && geometryCache[spec.url];
        if (!payload || !geo || ready !== spec.version) return window.dash_clientside.no_update;
        const classes = payload.classes;
        const n = payload.colours.length;
        const xs = [], ys = [];
        for (let k = 0; k <= n; k++) { xs.push([]); ys.push([]); }
        for (let i = 0; i < geo.cells.length; i++) {
          const c = classes[i];
          if (c === HIDDEN) continue;
          const slot = c === NO_VALUE || c >= n ? n : c;
          pushRings(geo.cells[i], xs[slot], ys[slot]);
        }
        const data = [];
        const traceFor = function (slot, name, colour) {
          return {
            type: "scatter", mode: "lines", x: xs[slot], y: ys[slot], fill: "toself", fillcolor: colour,
            line: { color: "rgba(11,18,32,0.55)", width: 0.5, simplify: false }, hoveron: "fills",
            hoverinfo: "name", name: name, legendgroup: String(slot),
          };
        };
        if (xs[n].length) data.push(traceFor(n, payload.no_data, payload.no_data_colour));
        for (let k = 0; k < n; k++) {
          if (xs[k].length) data.push(traceFor(k, payload.labels[k], payload.colours[k]));
        }
        data.push({ type: "scatter", mode: "lines", x: geo.outlineX, y: geo.outlineY, hoverinfo: "skip",
                    line: { color: "#e5e7eb", width: 1.2 }, showlegend: false, name: "districts" });
        if (selected && geo.index[selected] !== undefined) {
          const sx = [], sy = [];
          pushRings(geo.cells[geo.index[selected]], sx, sy);
          for (let k = 0; k < sx.length; k++) {
            if (sx[k] === null && k > 0) { sx[k] = sx[0]; sy[k] = sy[0]; }  // close the outline
          }
          data.push({ type: "scatter", mode: "lines", x: sx, y: sy, hoverinfo: "skip", showlegend: false,
                      line: { color: "#ffffff", width: 3 }, name: selected });
        }
        const b = payload.bounds || geo.bounds;
        const ratio = 1 / Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180);
        const hidden = { visible: false, showgrid: false, zeroline: false };
        const figure = {
          data: data,
          layout: {
            paper_bgcolor: "#0b1220", plot_bgcolor: "#0b1220", font: { color: "#e5e7eb" },
            margin: { l: 0, r: 0, t: 0, b: 0 }, dragmode: "pan", hovermode: "closest",
            xaxis: Object.assign({ range: [b[0], b[2]], constrain: "domain" }, hidden),
            yaxis: Object.assign({ range: [b[1], b[3]], scaleanchor: "x", scaleratio: ratio,
                                   constrain: "domain" }, hidden),
            legend: { title: { text: payload.title }, bgcolor: "rgba(17,24,39,0.85)", x: 0.01, y: 0.99,
                      font: { size: 13 } },
            // keep the analyst's zoom across refreshes; a new district filter re-frames the map
            uirevision: "grid-" + (payload.bounds ? payload.bounds.join(",") : "all"),
          },
        };
        // the graph's plot element appears only once its (lazily loaded) code has drawn: wait for it
        let tries = 0;
        const bind = function () {
          const holder = document.getElementById("grid-map");
          const gd = holder && holder.querySelector(".js-plotly-plot");
          if (!gd) {
            if (tries++ < 100) setTimeout(bind, 100);
            return;
          }
          gd._rkClasses = classes;
          gd._rkGeometryUrl = spec.url;
          attachClick(gd, spec.url);
        };
        setTimeout(bind, 0);
        return figure;
      },

      gridUrl: function (selected) {
        if (!selected) return window.dash_clientside.no_update;
        const path = "/grids/" + encodeURIComponent(selected);
        if (window.location.pathname !== path) {
          window.history.replaceState(window.history.state, "", path + window.location.search);
        }
        return selected;
      },

      gridPlay: function (n, value, max, stopped) {
        if (stopped) return window.dash_clientside.no_update;
        return value <= 0 ? max : value - 1;  // towards now, then start again from the oldest hour
      },

      warnAction: function (clicks, ids) {
        const ctx = window.dash_clientside.callback_context;
        if (!ctx.triggered.length || !ctx.triggered[0].value) return window.dash_clientside.no_update;
        const id = JSON.parse(ctx.triggered[0].prop_id.split(".")[0]);
        const url = "/api/v1/warnings/" + encodeURIComponent(id.id) + "/" + id.action;
        return fetch(url, { method: "POST", credentials: "same-origin",
                            headers: { "Content-Type": "application/json" }, body: "{}" })
          .then(function (r) {
            return r.json().then(function (body) {
              return { ok: r.ok, id: id.id, action: id.action, status: body.status || null,
                       error: r.ok ? null : (body.error || ("HTTP " + r.status)), at: Date.now() };
            }, function () {
              return { ok: false, id: id.id, action: id.action, error: "HTTP " + r.status, at: Date.now() };
            });
          }, function (err) {
            return { ok: false, id: id.id, action: id.action, error: String(err), at: Date.now() };
          });
      },
    },
  });
})();
