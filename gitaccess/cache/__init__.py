"""The on-disk object cache (packs and their index) and the writer process that fills it during long builds."""
