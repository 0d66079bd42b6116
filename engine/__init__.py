"""A declarative LLM proxy engine: canonical model, codecs, routing graphs, executor, server."""
