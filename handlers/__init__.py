"""Product logic, channel-agnostic: it never imports a messaging platform's library."""
