"""Privacy measurements: planted canaries and their exposure (Carlini et al. 2019), and detectors
of personal data in text. The suite kinds that use them live in harness/suites/."""
