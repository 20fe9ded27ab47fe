"""HTTP shells: REST entities, websocket endpoint, HTML pages."""
