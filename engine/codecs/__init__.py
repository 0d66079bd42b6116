"""One codec per wire protocol, used both ways (front-end and backend)."""
