"""New designs libvirt 9.0 does not have, used only by the strategies it never shipped: a
bounded probe pool, background warm-up, build-constant reply reuse, prebuilt capabilities and
fine-grained host API designs. Everything in qemu/ outside this package (and strategies
full_caps and per_emulator) mirrors libvirt 9.0; the deliberate deviations are qemu/deviations.py.
"""
