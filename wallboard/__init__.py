"""wallboard: real-time call-center wallboard and statistics for Asterisk queues."""

__version__ = "0.1.0"
