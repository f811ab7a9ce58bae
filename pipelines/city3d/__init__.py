"""The city in 3D (issue #19): LoD1 buildings, CityJSON 2.0 and OGC 3D Tiles 1.1 with glTF.

``lod1`` measures each footprint's ground and roof height (DTM and LiDAR), ``solids`` turns a
footprint and its two heights into the faces of a closed prism once for every writer,
``cityjson`` and ``gltf`` write those faces, ``tileset`` places the glTF content on the globe
(EPSG:4978) and ``pipeline`` makes the registry kinds ``lod1_buildings`` and ``trees_3d``.
"""
