"""Allocates memory until something gives."""
hog = []
while True:
    hog.append(bytearray(256 * 1024 * 1024))
