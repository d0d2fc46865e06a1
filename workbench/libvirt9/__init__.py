"""Real libvirt 9.0 as a measured system beside the model, so the model's numbers can be checked.

backend.py  runs one job (open + timed steps) in a worker process using the Python binding on
            `qemu:///embed?root=ROOT`, under reaper.py (a child subreaper), PATH = the install.
debuglog.py libvirt's debug log -> per probe launch: QMP command sequence and phase timestamps.
capsxml.py  <capabilities> guest list, machine/emulator of a defined domain.
measure.py  timed cases (startup, APIs, define) cold/warm -> rows like results.Row + `system`.
facts.py    the facts the model must follow, written to data/libvirt9/facts.json.
Nothing here imports workbench.qemu or workbench.emulators: it only sees an install directory.
Needs libvirt-daemon-driver-qemu, the binding (extra `libvirt`) and, when run as root, the
user `libvirt-qemu` (Debian's compiled-in default; libvirt-daemon-system creates it).
"""
