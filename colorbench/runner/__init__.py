"""The run path: a checked plan, the engine that renders and asks, scoring of answers,
resumable chunks, devices, locks and provenance."""
