"""SSH/CLI collection: asyncssh sessions to Cisco IOS/IOS-XE/NX-OS, `show` output → samples."""

from chmd.collect.ssh.collector import SshCollector

__all__ = ["SshCollector"]
