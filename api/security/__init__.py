"""Request hardening that every route shares: response security headers, CORS, body size."""
