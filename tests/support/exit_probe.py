"""What a run of a warm process (`hazflow.openquake.warm`) may leave for its process's exit to finish:
an HDF5 file open for writing, an exit handler, a thread still working, output not yet flushed; then
it exits with code 3. Argument: the folder to write in."""

import atexit
import sys
import threading
import time
from pathlib import Path


def late(folder: Path) -> None:
    time.sleep(0.5)
    (folder / "thread.txt").write_text("finished")


def main(folder: Path) -> None:
    import h5py
    import numpy as np

    left_open = h5py.File(folder / "left-open.hdf5", "w")  # never closed
    left_open["values"] = np.arange(1000.0)
    left_open.attrs["written"] = "before exit"
    globals()["kept"] = left_open
    atexit.register(lambda: (folder / "exit-handler.txt").write_text("ran"))
    threading.Thread(target=late, args=(folder,)).start()  # not a daemon: the exit waits for it
    sys.stdout.write("unflushed output")
    sys.exit(3)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
