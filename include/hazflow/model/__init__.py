"""The model: logic trees and their leaves and GMM branches (`logic_tree`), sites (`sites`),
calculation settings (`settings`), and the NSHM numbers forms and requests offer (`nshm`).

This `__init__` imports nothing, so `hazflow.model.nshm` stays light enough for DAG parsing.
"""
