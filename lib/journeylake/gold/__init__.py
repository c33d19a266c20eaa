"""Gold: journeys, the journey graph, funnels, cohorts, attribution, social influence and person
profiles, rebuilt from silver."""
