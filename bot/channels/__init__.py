"""Channel adapters: turn a platform's updates into `Inbound` and deliver `Outbound`."""
