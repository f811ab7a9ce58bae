"""Heavy-rain hazard screening (Starkregen): conditioned terrain, sinks, flow paths, scenarios."""
