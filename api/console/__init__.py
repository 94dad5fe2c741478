"""The web console: server-rendered pages for requesters and staff, and the offline API docs.
A front door like the API routers: it calls `services/` verbs and never runs SQL itself."""
