"""OpenQuake at the edge: render job inputs, run the engine in its own venv, read its HDF5 with h5py."""
