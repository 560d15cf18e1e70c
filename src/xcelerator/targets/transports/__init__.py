"""Transports: how a round reaches the machine that runs it, one file each (``local``, ``ssh``,
``adb``, ``command``), registered by name; third-party packages add theirs through the
entry-point group ``xcelerator.transports`` (the entry point loads a ``Transport`` subclass)."""

BUILTIN = {
    "local": "xcelerator.targets.transports.local:LocalTransport",
    "ssh": "xcelerator.targets.transports.ssh:SshTransport",
    "adb": "xcelerator.targets.transports.adb:AdbTransport",
    "command": "xcelerator.targets.transports.command:CommandTransport",
}
