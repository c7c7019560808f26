"""
A stand-in LMS: small Django apps whose models have exactly the fields of the edx-platform models
the plugin reads (same app labels, same db tables), and the same signal objects, so the plugin's
real code runs unchanged in tests, local commands and the demo.
"""
