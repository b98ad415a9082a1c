"""occmodel.heap: older objects frozen for the block, a caller's own freeze left alone."""
import gc

from occmodel.heap import old_objects_frozen


def test_the_block_freezes_only_objects_it_did_not_make():
    """Inside the block the older objects are frozen (out of the collector's way); after it nothing
    stays frozen, and a caller's own freeze is left alone."""
    seen = []
    with old_objects_frozen():
        seen.append(gc.get_freeze_count())
    assert seen[0] > 0 and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with old_objects_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
