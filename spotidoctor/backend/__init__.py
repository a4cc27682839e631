"""Container backend: build with buildah, run with podman (``spotidoctor build`` / ``launch``)."""
