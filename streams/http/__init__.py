"""The workers' HTTP API: accounts, the fund projection, the shares workers ask each other
for."""
