"""What each page shows, as plain functions of the read side (``dashboard.data.Dashboard``) and the
request's parameters. Page modules wrap them in layouts and callbacks; tests call them directly."""
