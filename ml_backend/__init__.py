"""AVS Studio's ML backend: plain Python + torch. Never imports Django or the server."""
