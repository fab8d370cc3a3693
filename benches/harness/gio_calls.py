#!/usr/bin/python3
"""A Gio (GDBus) client for `make bench`: N rounds of Peer.Ping and ListSessions to the daemon
on the bus at ADDRESS, taking turns, each timed from the call until GDBus has the reply as a
GVariant. Prints {"ping": [µs...], "list": [µs...]} as JSON. Usage: gio_calls.py ADDRESS N"""
import json
import sys
import time

from gi.repository import Gio, GLib

address, rounds = sys.argv[1], int(sys.argv[2])
flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
         | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
conn = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
calls = {
    "ping": ("org.freedesktop.DBus.Peer", "Ping", GLib.VariantType.new("()")),
    "list": ("org.trusty.Mpm1", "ListSessions", GLib.VariantType.new("(a(sssssuo))")),
}
times = {k: [] for k in calls}
for i in range(rounds + 5):
    for key, (iface, member, reply) in calls.items():
        t = time.perf_counter_ns()
        conn.call_sync("org.trusty.Mpm1", "/org/trusty/Mpm1", iface, member, None, reply,
                       Gio.DBusCallFlags.NONE, -1, None)
        if i >= 5:
            times[key].append((time.perf_counter_ns() - t) / 1000)
print(json.dumps(times))
