# Services run under eventlet (as `nameko run` does): patch before anything imports socket or threading.
import eventlet

eventlet.monkey_patch()

pytest_plugins = ["loket.testing"]
