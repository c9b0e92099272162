"""Synthetic top-down conveyor imagery with exact labels: still frames for training, clips with truth for counting.

There is no public conveyor data set reachable from the project's machines, so the project renders its own:
a textured moving belt, produce sprites whose condition shows as a visual cue of varying severity,
distractors that are not produce, and the camera's lighting, blur, noise and compression.
"""
