import Journey
print(JourneyVersion.string)
