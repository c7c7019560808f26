"""The stand-in of the LMS courseware's XBlock runtime, block rendering and handler URLs."""
