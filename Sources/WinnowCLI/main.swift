import WinnowCore
print(Winnow.version)
