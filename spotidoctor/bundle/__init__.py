"""Bug report bundles (``spotidoctor report``)."""
