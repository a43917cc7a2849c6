"""The built-in document templates of information reports (see :mod:`uplink.sitrep_render`)."""
