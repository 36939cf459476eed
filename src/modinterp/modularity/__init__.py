"""modinterp.modularity: weight graphs, Gomory-Hu trees, modules, metrics and modularity losses.

    graph = WeightGraph.from_model(model)                 # MLP or BoardTransformer (heads + neurons)
    tree = gomory_hu_tree(graph)                          # backend="gusfield" (numba) | "igraph" | "networkx"
    part = partition(tree, k=4)                           # lowest-conductance non-singleton tree edges
    modules = module_table(graph, part.labels)
    modularity_report(graph, part.labels)                 # cross fraction, n-cut, Newman Q
    loss = ModularityLoss(lam=0.3, k=4)                   # total = task + loss(model, step), or
    Trainer(..., loss_terms=[loss])                       # modinterp.train: logged and checkpointed
"""

from modinterp.modularity.gomory_hu import BACKENDS, GomoryHuTree, gomory_hu_tree
from modinterp.modularity.graph import BlockSet, WeightBlock, WeightGraph
from modinterp.modularity.loss import BIMTLoss, L1Loss, ModularityLoss, SpectralLoss
from modinterp.modularity.metrics import (clusterability, cross_fraction, modularity_report, newman_q,
                                          normalized_cut, spectral_partition)
from modinterp.modularity.model_blocks import MLP, model_block_set
from modinterp.modularity.partition import Module, Partition, linkage_matrix, module_table, partition
from modinterp.modularity.providers import GomoryHuProvider, SpectralProvider

__all__ = [
    "WeightGraph", "WeightBlock", "BlockSet", "model_block_set", "MLP", "GomoryHuTree", "gomory_hu_tree", "BACKENDS", "partition", "Partition",
    "Module", "module_table", "linkage_matrix", "cross_fraction", "normalized_cut", "newman_q", "clusterability",
    "spectral_partition", "modularity_report", "ModularityLoss", "L1Loss", "BIMTLoss", "SpectralLoss",
    "GomoryHuProvider", "SpectralProvider",
]
