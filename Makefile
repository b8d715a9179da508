# Thin convenience layer over workbench.sh and CMake.
.PHONY: run test build clean deb
run:
	./workbench.sh run
test:
	./workbench.sh test
build:
	./workbench.sh build
deb: build
	cd build && cpack -G DEB
clean:
	rm -rf build
