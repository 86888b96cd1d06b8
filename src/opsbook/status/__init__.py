"""The public status page: what customers may see, built once and rendered as Statuspage v2
JSON (later as HTML, a feed and a static export), and scheduled maintenance."""
