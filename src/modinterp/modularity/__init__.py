"""modinterp.modularity: weight graphs, Gomory-Hu trees, modules, metrics and modularity losses.

    graph = graph_of(model)                               # construct/: MLP or BoardTransformer (heads + neurons)
    tree = gomory_hu_tree(graph)                          # backend="gusfield" (numba) | "igraph" | "networkx"
    part = partition(tree, k=4)                           # lowest-conductance non-singleton tree edges
    modules = module_table(graph, part.labels)
    modularity_report(graph, part.labels)                 # cross fraction, n-cut, Newman Q
    cut = cut_model(model, k=4)                           # all of the above in one call: a ModuleCut
    loss = ModularityLoss(lam=0.3, k=4)                   # total = task + loss(model, step), or
    Trainer(..., loss_terms=[loss])                       # modinterp.train: logged and checkpointed

Layers: `graph.py` (the plain graph) <- `gomory_hu.py`, `gusfield.py`, `dinic.py`, `partition.py`,
`metrics.py` (algorithms on any graph) ; `construct/` (graphs and weight blocks from models) ; `cut.py` (model or
graph -> k modules) <- `providers.py`, `loss.py` (training losses).
"""

from modinterp.modularity.construct import BlockSet, WeightBlock, block_set_of, blocks_of, graph_of
from modinterp.modularity.cut import ModuleCut, cut_graph, cut_model
from modinterp.modularity.gomory_hu import BACKENDS, GomoryHuTree, gomory_hu_tree
from modinterp.modularity.graph import WeightGraph
from modinterp.modularity.loss import BIMTLoss, L1Loss, ModularityLoss, SpectralLoss
from modinterp.modularity.metrics import (clusterability, cross_fraction, modularity_report, newman_q,
                                          normalized_cut, spectral_partition)
from modinterp.modularity.partition import Module, Partition, linkage_matrix, module_table, partition
from modinterp.modularity.providers import GomoryHuProvider, SpectralProvider

__all__ = [
    "WeightGraph", "WeightBlock", "BlockSet", "graph_of", "blocks_of", "block_set_of", "ModuleCut", "cut_model",
    "cut_graph", "GomoryHuTree", "gomory_hu_tree", "BACKENDS", "partition", "Partition", "Module", "module_table",
    "linkage_matrix", "cross_fraction", "normalized_cut", "newman_q", "clusterability", "spectral_partition",
    "modularity_report", "ModularityLoss", "L1Loss", "BIMTLoss", "SpectralLoss", "GomoryHuProvider",
    "SpectralProvider",
]
