"""The shared vocabulary every stage speaks: formats, tensors, manifest, metrics, images, environment, I/O.

Nothing here imports a stage (data, train, export, runtime, bench) or a heavy library at import
time; every stage imports from here.
"""
