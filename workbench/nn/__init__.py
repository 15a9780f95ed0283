"""Building blocks shared by the method plugins: heads, decoders, EMA copies, patches, colour, losses."""
