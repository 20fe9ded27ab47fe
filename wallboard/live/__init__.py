"""Live side: AMI events, the pure state machine, the websocket hub."""
