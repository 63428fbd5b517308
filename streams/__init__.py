"""riskmon adapters: codecs, replay, CLI (and, later, the faust app, metrics and HTTP)."""
