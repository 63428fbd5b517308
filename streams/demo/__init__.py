"""`riskmon demo`: a market simulator in the process feeds the partition task of the workers."""
