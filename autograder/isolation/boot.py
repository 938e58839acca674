# The first code of a student process (autograder/isolation/process.py passes this text to `python -I -B -c`, with
# the sandbox folder as argv[1]): put the sandbox first on sys.path and run the harness. It binds no name in
# __main__: nothing of the harness is reachable from the student's code through sys.modules.
__import__('sys').path.insert(0, __import__('sys').argv[1]); __import__('cvgrade_child.harness').harness.main()
