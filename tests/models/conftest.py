import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second intra-op thread, and on a busy machine its
    synchronisation costs hundreds of ms per PyG scatter (GAT went from 0.5 ms to 300 ms)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
