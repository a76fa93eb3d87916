"""The GPU agent: device discovery, sandboxed executors, job kinds."""
