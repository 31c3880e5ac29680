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


  /* The cells of a view as one image: each cell filled on a canvas (one small path each is far faster
   * to rasterise than one path of 10,000 rings), placed under the axes as a layout image. */
  function cellImage(state, view, holder) {
    const geo = state.geo, payload = state.payload;
    // a margin around the view: the axes' aspect may widen it, and a pan shows cells before the redraw
    const mx = (view[2] - view[0]) * 0.15, my = (view[3] - view[1]) * 0.15;
    const b = [view[0] - mx, view[1] - my, view[2] + mx, view[3] + my];
    const ratio = 1 / Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180);
    const aspect = (b[3] - b[1]) * ratio / (b[2] - b[0]);  // screen height / width of the view
    const dpr = window.devicePixelRatio || 1;
    const shown = holder ? Math.max(holder.clientWidth, holder.clientHeight) : 1000;
    const side = Math.min(3000, Math.max(600, shown * dpr * 1.3));
    const W = Math.round(aspect > 1 ? side / aspect : side), H = Math.round(aspect > 1 ? side : side * aspect);
    const canvas = document.createElement("canvas");
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d");
    const sx = W / (b[2] - b[0]), sy = H / (b[3] - b[1]);
    const classes = payload.classes, colours = payload.colours, n = colours.length;
    const pad = 0.01;
    for (let i = 0; i < geo.cells.length; i++) {
      const c = classes[i];
      if (c === HIDDEN) continue;
      const cell = geo.cells[i];
      if (cell.x < b[0] - pad || cell.x > b[2] + pad || cell.y < b[1] - pad || cell.y > b[3] + pad) continue;
      ctx.fillStyle = c === NO_VALUE || c >= n ? payload.no_data_colour : colours[c];
      for (const ring of cell.rings) {
        const xs = ring[0], ys = ring[1];
        ctx.beginPath();
        ctx.moveTo((xs[0] - b[0]) * sx, (b[3] - ys[0]) * sy);
        for (let k = 1; k < xs.length; k++) ctx.lineTo((xs[k] - b[0]) * sx, (b[3] - ys[k]) * sy);
        ctx.closePath();
        ctx.fill();
      }
    }
    return { source: canvas.toDataURL("image/png"), xref: "x", yref: "y", x: b[0], y: b[3],
             sizex: b[2] - b[0], sizey: b[3] - b[1], sizing: "stretch", layer: "below",
             xanchor: "left", yanchor: "top" };
  }

  let firstImage = true;
  function timedImage(state, b, holder) {
    // the first image of a page is marked, so benchmarks can see where the first paint's time goes
    if (firstImage) performance.mark("rk-image-start");
    const image = cellImage(state, b, holder);
    if (firstImage) { performance.mark("rk-image-done"); firstImage = false; }
    return image;
  }

  /* The hazard marker under the pointer (pixels in the plot area), the nearest within its radius. */
  function hazardAt(hz, full, px, py) {
    if (!hz || !hz.x.length) return null;
    let best = null, bestD = Infinity;
    for (let i = 0; i < hz.x.length; i++) {
      const dx = full.xaxis.l2p(hz.x[i]) - px, dy = full.yaxis.l2p(hz.y[i]) - py;
      const d = dx * dx + dy * dy, r = hz.size[i] / 2 + 3;
      if (d <= r * r && d < bestD) { best = i; bestD = d; }
    }
    return best;
  }

  /* Redraw the image after a zoom or pan, and show a cell's value under the pointer. */
  function attachView(gd, holder) {
    if (gd._rkView) return;
    gd._rkView = true;
    gd.on("plotly_relayout", function (ev) {
      const keys = Object.keys(ev || {});
      if (!keys.length || keys.every(function (k) { return k.indexOf("images") === 0; })) return;
      const full = gd._fullLayout;
      if (!gd._rkState || !full || !full.xaxis) return;
      const b = [full.xaxis.range[0], full.yaxis.range[0], full.xaxis.range[1], full.yaxis.range[1]];
      window.Plotly.relayout(gd, { images: [cellImage(gd._rkState, b, holder)] });
    });
    const tip = document.createElement("div");
    tip.className = "rk-tooltip";
    tip.setAttribute("role", "tooltip");
    holder.appendChild(tip);
    let pending = null;
    gd.addEventListener("mousemove", function (e) {
      pending = e;
      window.requestAnimationFrame(function () {
        if (!pending) return;
        const ev = pending;
        pending = null;
        const state = gd._rkState, drag = gd.querySelector(".nsewdrag"), full = gd._fullLayout;
        if (!state || !drag || !full) return;
        const box = drag.getBoundingClientRect();
        const lon = full.xaxis.p2l(ev.clientX - box.left), lat = full.yaxis.p2l(ev.clientY - box.top);
        const hb = holder.getBoundingClientRect();
        const marker = hazardAt(state.payload.hazards, full, ev.clientX - box.left, ev.clientY - box.top);
        if (marker !== null) {
          tip.textContent = state.payload.hazards.text[marker];
          tip.style.left = (ev.clientX - hb.left + 14) + "px";
          tip.style.top = (ev.clientY - hb.top + 14) + "px";
          tip.style.display = "block";
          return;
        }
        const id = ev.clientX >= box.left && ev.clientX <= box.right && ev.clientY >= box.top &&
          ev.clientY <= box.bottom ? cellAt(state.geo, state.payload.classes, lon, lat) : null;
        if (id === null) { tip.style.display = "none"; return; }
        const i = state.geo.index[id], c = state.payload.classes[i], v = state.payload.values[i];
        const label = c >= 0 && c < state.payload.labels.length ? state.payload.labels[c] : state.payload.no_data;
        tip.textContent = id + " · " + (v === null ? label : v + " (" + label + ")");
        tip.style.left = (ev.clientX - hb.left + 14) + "px";
        tip.style.top = (ev.clientY - hb.top + 14) + "px";
        tip.style.display = "block";
      });
    });
    gd.addEventListener("mouseleave", function () { tip.style.display = "none"; });
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
            performance.mark("rk-geometry-fetched");
            geometryCache[spec.url] = decodeGeometry(body);
            performance.mark("rk-geometry-decoded");
            return spec.version;
          });
      },

      gridDraw: function (payload, ready, selected, spec) {
        const geo = spec && geometryCache[spec.url];
        if (!payload || !geo || ready !== spec.version) return window.dash_clientside.no_update;
        const holder = document.getElementById("grid-map");
        const gd = holder && holder.querySelector(".js-plotly-plot");
        const uirevision = "grid-" + (payload.bounds ? payload.bounds.join(",") : "all");
        let b = payload.bounds || geo.bounds;
        const full = gd && gd._fullLayout;
        if (full && gd._rkUirevision === uirevision && full.xaxis && full.xaxis.range) {
          // keep the analyst's zoom: draw the cells for the range on screen
          b = [full.xaxis.range[0], full.yaxis.range[0], full.xaxis.range[1], full.yaxis.range[1]];
        }
        const state = { geo: geo, payload: payload, selected: selected, uirevision: uirevision };
        const ratio = 1 / Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180);
        const hidden = { visible: false, showgrid: false, zeroline: false };
        const data = [];
        payload.colours.forEach(function (colour, k) {
          // legend entries only: the cells themselves are one image
          data.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: payload.labels[k],
                      marker: { color: colour, symbol: "square", size: 14 }, hoverinfo: "skip" });
        });
        data.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: payload.no_data,
                    marker: { color: payload.no_data_colour, symbol: "square", size: 14 }, hoverinfo: "skip" });
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
        const hz = payload.hazards;
        if (hz) {
          // legend entries (shape and colour per grade, and how overdue ones look), then the markers
          hz.legend.forEach(function (g) {
            data.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: g.name, hoverinfo: "skip",
                        marker: { color: g.colour, symbol: g.symbol, size: 12, line: { color: "#0b1220", width: 1 } } });
          });
          data.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: hz.legend_overdue,
                      hoverinfo: "skip", marker: { color: "rgba(0,0,0,0)", symbol: "circle", size: hz.overdue_size,
                                                   line: { color: hz.overdue_outline, width: 3 } } });
          data.push({ type: "scatter", mode: "markers", x: hz.x, y: hz.y, text: hz.text, hoverinfo: "skip",
                      showlegend: false, name: "hazards",
                      marker: { color: hz.colour, symbol: hz.symbol, size: hz.size,
                                line: { color: hz.line_colour, width: hz.line_width } } });
        }
        const figure = {
          data: data,
          layout: {
            paper_bgcolor: "#0b1220", plot_bgcolor: "#0b1220", font: { color: "#e5e7eb" },
            margin: { l: 0, r: 0, t: 0, b: 0 }, dragmode: "pan", hovermode: false,
            xaxis: Object.assign({ range: [b[0], b[2]], constrain: "domain" }, hidden),
            yaxis: Object.assign({ range: [b[1], b[3]], scaleanchor: "x", scaleratio: ratio,
                                   constrain: "domain" }, hidden),
            images: [timedImage(state, b, holder)],
            legend: { title: { text: payload.title }, bgcolor: "rgba(17,24,39,0.85)", x: 0.01, y: 0.99,
                      font: { size: 13 }, itemclick: false, itemdoubleclick: false },
            uirevision: uirevision,
          },
        };
        // the graph's plot element appears only once its (lazily loaded) code has drawn: wait for it
        let tries = 0;
        const bind = function () {
          // look the graph up again: React may have replaced the elements since the figure was built
          const box = document.getElementById("grid-map");
          const el = box && box.querySelector(".js-plotly-plot");
          if (!el || !el.on) {
            if (tries++ < 100) setTimeout(bind, 100);
            return;
          }
          el._rkState = state;
          el._rkUirevision = uirevision;
          el._rkClasses = payload.classes;
          el._rkGeometryUrl = spec.url;
          attachClick(el, spec.url);
          attachView(el, box);
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
        // the session's CSRF token (cookie rk_csrf, dashboard/auth.py) goes back as a header
        const csrf = document.cookie.split("; ").find(function (c) { return c.indexOf("rk_csrf=") === 0; });
        const headers = { "Content-Type": "application/json" };
        if (csrf) headers["X-CSRF-Token"] = decodeURIComponent(csrf.slice("rk_csrf=".length));
        return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: "{}" })
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
