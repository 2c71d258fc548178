"""The bridge part (book/bridge): the discrete model's mechanism tested on real networks that see the
model's data as images, with the ground truth of every feature and every noise patch."""
