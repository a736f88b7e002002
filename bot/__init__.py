"""tinbao wiring: settings, command line, channels (Telegram, console) and the runtime."""
