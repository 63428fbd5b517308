"""The insurance fund projection (SPEC §8): fund ledger, stress grid, depletion shocks,
Monte Carlo, ADL queues and the liquidation map. numpy and the standard library only.
"""

from risk.fund.ledger import FundLedger
from risk.fund.parameters import FundParameters
from risk.fund.volatility import EwmaCovariance

__all__ = ["EwmaCovariance", "FundLedger", "FundParameters"]
